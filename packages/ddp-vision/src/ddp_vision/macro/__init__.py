"""NAS-Bench-Macro: a real tabular benchmark of a layer-wise MobileNet space on CIFAR-10."""
