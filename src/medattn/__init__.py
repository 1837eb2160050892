"""medattn: does attention really make a medical image classifier better, and its explanations
more trustworthy? Build the published models, train, test, explain, compare."""

__version__ = "0.1.0"
