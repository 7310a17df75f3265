"""Explaining a trained run (no Qt here): attributions of the model's output to its inputs with Captum, reduced
along the Inputs' named axes (contract section 5.4), Grad-CAM on a convolution block, per-block activations and
what each branch of a fusion graph contributes. ``engine`` imports torch and Captum lazily; ``cli`` only the
standard library at its top.
"""
