"""Graph -> torch.fx GraphModule, standalone Python source, and ONNX. torch is imported only when compiling."""

from .codegen import CompileError, GeneratedModel, generate

__all__ = ["CompileError", "GeneratedModel", "generate", "compile_graph", "locate_failure", "BlockRuntimeError"]


def __getattr__(name):
    if name in ("compile_graph", "locate_failure", "BlockRuntimeError", "load_model_class"):
        from . import fx
        return getattr(fx, name)
    raise AttributeError(name)
