"""Model zoo: backbones x attention x placement x head, built by ``create_model``."""

from medattn.models.factory import Classifier, create_model
from medattn.models.summary import count_layer_params, count_macs, count_params, model_info

__all__ = ["Classifier", "create_model", "count_layer_params", "count_macs", "count_params", "model_info"]
