import os, torch, pytest
torch.set_num_threads(1)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

@pytest.fixture(scope="session")
def gpt2_tok():
    from heta.models import gpt2_tokenizer
    return gpt2_tokenizer()
