"""An example vqaft plugin package: adds the ``token_f1`` evaluator."""

from vqaft_plugin_example.token_f1 import TokenF1

__all__ = ["TokenF1"]
