"""The MobileNet layer-wise (ProxylessNAS) search space: configs, costs, supernet, networks, ENG."""
