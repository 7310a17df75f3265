"""Explaining a trained run: attributions over named axes (Captum), Grad-CAM, a PNG report (``hybrid-studio explain``).

Qt-free; torch and Captum load only when an explanation runs.
"""
