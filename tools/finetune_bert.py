"""Fine-tune an exported ddp-bert model on a GLUE task: python tools/finetune_bert.py --model DIR --task rte"""

from ddp_bert.finetune_cli import main

if __name__ == "__main__":
    raise SystemExit(main())
