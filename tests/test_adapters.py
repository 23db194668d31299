"""The adapter rebuilds every supported family's attention output from values, W_O and probabilities."""
import pytest, torch, transformers as tf
from heta.models import Arch, prepare_model, rebuild_attention_output, get_adapter

SMALL = dict(vocab_size=128, max_position_embeddings=64)
FAMILIES = {
    "gpt2": lambda: tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=128, n_positions=64, n_embd=64, n_layer=2, n_head=4)),
    "gptj": lambda: tf.GPTJForCausalLM(tf.GPTJConfig(vocab_size=128, n_positions=64, n_embd=64, n_layer=2, n_head=4, rotary_dim=8)),
    "gpt_neox": lambda: tf.GPTNeoXForCausalLM(tf.GPTNeoXConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                                                intermediate_size=128, rotary_pct=0.25, **SMALL)),
    "llama": lambda: tf.LlamaForCausalLM(tf.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                        num_attention_heads=4, num_key_value_heads=2, **SMALL)),
    "mistral": lambda: tf.MistralForCausalLM(tf.MistralConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                              num_attention_heads=4, num_key_value_heads=1, **SMALL)),
    "qwen2": lambda: tf.Qwen2ForCausalLM(tf.Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                        num_attention_heads=4, num_key_value_heads=2, **SMALL)),
    "phi3": lambda: tf.Phi3ForCausalLM(tf.Phi3Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                     num_attention_heads=4, num_key_value_heads=2, pad_token_id=0, **SMALL)),
    "gemma": lambda: tf.GemmaForCausalLM(tf.GemmaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                        num_attention_heads=4, num_key_value_heads=2, head_dim=16, **SMALL)),
}

@pytest.mark.parametrize("family", list(FAMILIES))
def test_rebuild_attention_output(family):
    torch.manual_seed(0)
    model = FAMILIES[family]()
    if model._supports_sdpa:  # a model running sdpa must be switched to eager
        model.set_attn_implementation("sdpa")
        with pytest.warns(UserWarning, match="eager"): prepare_model(model)
    else: prepare_model(model)
    # random biases where the layer has them, so a wrongly sliced bias would show
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("bias"): p.normal_(0, 0.5)
    arch = Arch(model)
    assert arch.n_layers == 2 and arch.n_heads == 4
    ids = torch.randint(0, 128, (2, 11))
    for real, rebuilt in rebuild_attention_output(arch, ids):
        torch.testing.assert_close(rebuilt, real, atol=2e-5, rtol=1e-4)

def test_qwen2_value_bias_is_used():
    model = prepare_model(FAMILIES["qwen2"]())
    assert Arch(model).attn(0).v_proj.bias is not None

def test_unknown_architecture_message():
    class Body(torch.nn.Module): pass
    class Weird(tf.PreTrainedModel):
        config_class = tf.PretrainedConfig
        def __init__(self, cfg): super().__init__(cfg); self.body = Body(); self.lm = torch.nn.Linear(2, 2)
        def get_output_embeddings(self): return self.lm
    m = Weird(tf.PretrainedConfig())
    with pytest.raises(ValueError, match=r"could not find model\.layers.*register_adapter"):
        Arch(m)
