"""Converters: other weight formats -> this Transformer's state dict (loaded with strict=True).

Pure functions from a source state dict (or GGUF tensors and metadata) to our names and
per-head shapes; each has a parity test against the reference implementation.

    bert.config_from_hf / bert.convert     BERT family (BertModel names; MiniLM)
    gpt2.config_from_hf / gpt2.convert     GPT-2 (Conv1D weights, [in, out])
    llama.config_from_hf / llama.convert   Llama (LlamaForCausalLM names)
    llama.convert_gguf                     Llama GGUF tensors (llama.cpp's Q/K permutation undone)
    gguf_file.read_gguf                    a GGUF file -> metadata, dequantized tensors
    gguf_file.tokenizer_from_gguf          the byte-level BPE tokenizer of a GGUF file
    hf_folder.convert_folder               a local Hugging Face folder of GPT-2, BERT or Llama type
"""

from models.convert.common import ConversionError

__all__ = ["ConversionError"]
