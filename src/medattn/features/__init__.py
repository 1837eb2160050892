"""Global explanations: which features a model's output depends on, given the label."""
