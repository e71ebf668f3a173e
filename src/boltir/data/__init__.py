"""Data layer: readers and writers for IR files, named datasets, sharded datasets and collators."""
