"""What the learner's files import: the project's generated data sets."""
