"""Generated wire contracts of Edgeway (``edgeway.v1``); regenerate with proto/generate.py."""
