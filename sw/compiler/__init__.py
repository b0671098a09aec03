"""From a trained model to a Program: the Program format, compiler, fitting, golden model."""
