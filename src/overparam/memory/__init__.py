"""Memory terms of each problem family (one file each); the guard is overparam.resources."""
