"""Tiny models built in the test run (no download): a 2-layer Llama with a ChatML template and
a 2-layer BERT, each with a tokenizer trained on the test's own texts."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sweetiechat.agents.base import strategy_list
from sweetiechat.io import read_dialogues
from sweetiechat.prompts import load_prompt
from sweetiechat.taxonomy import ProblemType, Strategy

FIXTURE = Path(__file__).parent / "fixtures" / "esconv_small.json"

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def corpus(*files: Path) -> list[str]:
    """Texts the tokenizers are trained on: the dialogues, prompts and label names."""
    texts = [t.text for f in files for d in read_dialogues(f) for t in d.turns]
    texts += [s.value for s in Strategy] + [p.value for p in ProblemType]
    prompt = load_prompt("counselor")
    texts += [strategy_list(), prompt.system, prompt.user]
    texts += ["Seeker: Supporter: problem: emotion: anxiety sadness depression anger fear"]
    return texts


def _bpe(texts: Iterable[str], specials: list[str], vocab: int) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(texts), trainer)
    return tok


def tiny_llama(folder: Path, texts: list[str], *, seed: int = 0, layers: int = 2) -> Path:
    """A 2-layer Llama causal LM with a ChatML chat template, saved to ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_bpe(texts, specials, 2000),
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_bert(folder: Path, texts: list[str], *, seed: int = 0) -> Path:
    """A 2-layer BERT encoder with a WordPiece tokenizer, saved to ``folder``."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=800, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer = BertTokenizerFast(tokenizer_object=tok)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    folder.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@functools.cache
def _root() -> Path:
    path = Path(tempfile.mkdtemp(prefix="sweetiechat-tiny-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def data_dir() -> Path:
    """train/valid/test: the three fixture dialogues each (14 supporter turns)."""
    folder = _root() / "data"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        shutil.copy(FIXTURE, folder / f"{split}.json")
    return folder


@functools.cache
def llama_dir(layers: int = 2) -> Path:
    """A tiny Llama, built once per test process."""
    return tiny_llama(_root() / f"llama-{layers}", corpus(FIXTURE), layers=layers)


@functools.cache
def bert_dir() -> Path:
    """A tiny BERT, built once per test process."""
    return tiny_bert(_root() / "bert", corpus(FIXTURE))


@functools.cache
def trained(kind: str) -> Path:
    """A counselor of ``kind`` trained for a few steps on :func:`data_dir`, once per process."""
    from sweetiechat.trainer import CounselorTrainConfig, train_counselor

    config = CounselorTrainConfig(
        kind=kind,  # type: ignore[arg-type]
        data_dir=str(data_dir()),
        out_dir=str(_root() / f"trained-{kind}"),
        base_model=str(llama_dir() if kind == "lm" else bert_dir()),
        max_steps=8,
        eval_steps=4,
        learning_rate=3e-2 if kind == "lm" else 5e-3,
        batch_size=4,
    )
    return train_counselor(config, progress=False).out_dir
