"""The labelled corpus and its evaluation (`make eval`): see eval/README.md."""
