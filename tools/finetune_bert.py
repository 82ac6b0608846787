"""Fine-tune an exported ddp-bert model on a GLUE task: python tools/finetune_bert.py --model DIR --task rte"""


from bert_preflight import check_hub_sources_first

if __name__ == "__main__":
    check_hub_sources_first(with_default_teacher=False)
    from ddp_bert.finetune_cli import cli

    raise SystemExit(cli())
