"""DDPNAS BERT compression search. Run: accelerate launch tools/search_bert.py --task rte [--cpu] ..."""

from ddp_bert.search_cli import main

if __name__ == "__main__":
    raise SystemExit(main())
