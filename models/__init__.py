"""Attention Lab's models: one glass-box Transformer, its tokenizer, training and registry."""

from models.config import ModelConfig
from models.transformer import ActivationCache, Interventions, Transformer

__all__ = ["ActivationCache", "Interventions", "ModelConfig", "Transformer"]
