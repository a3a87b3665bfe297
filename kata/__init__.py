"""What the learner's files import: generated data (kata.data, kata.images), the seeded generator and
default device (kata.common), the shared training loop (kata.training) and real data for main() (kata.datasets)."""
