"""Instances' data, one file per source: paper A's generators and .npy files (synthetic, used by
the linear families), images (datasets), the shallow network's data and teacher, and the
linear classifier's spherical laws."""
