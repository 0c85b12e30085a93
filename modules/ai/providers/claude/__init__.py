"""The Claude provider: Anthropic's official SDK, structured output through tool use."""
