"""The llm-brief example: an OpenAI-compatible model summarizes a bundled document."""
