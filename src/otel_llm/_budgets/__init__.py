"""Budget state of every key, team, user, organisation and end user, read from LiteLLM's database."""
