"""The local transformers path: prompt, greedy generation, parsing, with a tiny causal LM built from a config
whose output is rigged to repeat the token '2' (so the answer, and the ranking, are known exactly)."""

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from boltir.distill.backends import TransformersChat
from boltir.distill.teachers import ListwiseLLMTeacher
from boltir.models.sources import load_tokenizer, resolve_model


def test_local_causal_lm_ranks_through_prompt_generation_and_parsing(tmp_path):
    tok = load_tokenizer(resolve_model("minilm-l6"))
    two = tok.convert_tokens_to_ids("2")
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=512,
        n_embd=32,
        n_layer=1,
        n_head=2,
        tie_word_embeddings=False,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
    )
    model = GPT2LMHeadModel(cfg)
    with torch.no_grad():  # final norm outputs a constant; only the row of '2' gets a logit
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[two] = 1.0
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)

    chat = TransformersChat(str(tmp_path), max_new_tokens=3, device="cpu")
    answer = chat.complete([{"role": "user", "content": "rank [1] a [2] b"}])
    assert answer == "2 2 2"  # only the new tokens, not the prompt
    docs = {"a": "first passage", "b": "second passage", "c": "third passage", "d": "fourth passage"}
    teacher = ListwiseLLMTeacher(chat, window=3, stride=2)
    # windows (2-4) then (1-2); each answer puts the window's second passage first
    assert teacher.rank("q", "which passage", ["a", "b", "c", "d"], docs) == ["c", "a", "b", "d"]
    assert teacher.stats == {"calls": 2, "cached": 0, "windows": 2, "repaired": 2, "malformed_retried": 0}
