import os, torch, pytest
torch.set_num_threads(1)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

@pytest.fixture(scope="session")
def gpt2_tok():
    from heta.models import gpt2_tokenizer
    return gpt2_tokenizer()

@pytest.fixture(scope="module")
def models():
    "A tiny random GPT-2 (real tokenizer) and a tiny random GQA Llama, fresh for each test module."
    from heta.models import prepare_model, tiny_gpt2, tiny_llama
    return {"gpt2": prepare_model(tiny_gpt2(init_std=0.2)), "llama": prepare_model(tiny_llama())}
