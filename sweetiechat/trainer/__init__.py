"""Training: the strategy counselor (``lm``: a causal LM with LoRA; ``classifier``: an encoder
with a classification head).

torch, transformers, peft and trl are imported inside the functions that need them, so this
package stays cheap to import. Needs the ``train`` extra: ``pip install 'sweetiechat[train]'``.
"""
