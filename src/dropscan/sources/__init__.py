"""Where lines come from: paths, globs, directories, stdin and archives, decompressed."""
