"""Modeling code that travels with every exported model (``auto_map`` in its config.json).

The two files here import only the standard library, torch and transformers, so that
``AutoModelForSequenceClassification.from_pretrained(export_dir, trust_remote_code=True)`` works where ddp-bert
is not installed. ``ddp_bert`` registers these very classes natively; ``save_pretrained`` copies the files next
to the weights. Keep them self-contained: no imports from ``ddp_bert`` or ``ddp_core``.
"""
