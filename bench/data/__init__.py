"""Data: named datasets and folders of images (:mod:`bench.data.datasets`), reading an image file as
8-bit RGB (:mod:`bench.data.images`), and downloading a file, streamed and hash-checked
(:mod:`bench.data.download`)."""
