"""Layer 2: sources, shaping, transforms, templates, split, tokens, validation, writer."""
