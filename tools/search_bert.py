"""DDPNAS BERT compression search. Run: accelerate launch tools/search_bert.py --task rte [--cpu] ..."""

import sys

from bert_preflight import check_hub_sources_first

if __name__ == "__main__":
    check_hub_sources_first(with_default_teacher=True)
    from ddp_bert.search_cli import cli

    sys.exit(cli())
