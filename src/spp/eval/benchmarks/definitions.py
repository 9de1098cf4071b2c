"""The benchmarks spp knows, each one ``register_benchmark(BenchmarkSpec(...))``: files, sources, licenses, builders."""

from __future__ import annotations

from spp.eval.benchmarks.builders import _artifacts, _dan, _direct, _harmbench, _xstest
from spp.eval.benchmarks.data_defined import register_builtin_definitions
from spp.eval.benchmarks.registry import (
    ATTACK,
    BASE,
    OVER_REFUSAL,
    BenchmarkSpec,
    FileRole,
    HubSource,
    register_benchmark,
)

JBB = HubSource("JailbreakBench/JBB-Behaviors", "behaviors", "harmful")
JBB_COLUMNS = {
    "id": ("Index", "index", "id"),
    "behavior": ("Goal", "goal", "behavior"),
    "target": ("Target", "target"),
    "category": ("Category", "category"),
}

register_benchmark(
    BenchmarkSpec(
        name="advbench",
        description="AdvBench harmful behaviors, sent as direct requests (520).",
        kind=ATTACK,
        license="MIT (llm-attacks/llm-attacks); Zou et al. 2023",
        files={
            "behaviors": FileRole(
                "advbench_harmful_behaviors.csv",
                {"behavior": ("goal", "prompt", "behavior"), "target": ("target",), "category": ("category",)},
                ("behavior",),
                HubSource("walledai/AdvBench", None, "train"),
                "CSV goal,target as in llm-attacks data/advbench",
            )
        },
        build=_direct("advbench"),
    )
)
register_benchmark(
    BenchmarkSpec(
        name="dan",
        description="'Do Anything Now' jailbreak templates x JailbreakBench behaviors.",
        kind=ATTACK,
        license="templates: 0xk1h0/ChatGPT_DAN (community prompts); behaviors: MIT (JailbreakBench)",
        files={
            "behaviors": FileRole("jbb_harmful_behaviors.csv", JBB_COLUMNS, ("behavior",), JBB, "JBB-Behaviors CSV"),
            "templates": FileRole(
                "chatgpt_dan_prompts.json",
                {"id": ("prompt_id", "id", "title"), "template": ("prompt", "template", "text")},
                ("template",),
                None,
                "JSON {prompts: [{prompt_id, title, prompt}]}; a {behavior} slot is filled, else the behavior is appended",
            ),
        },
        build=_dan,
        options={
            # the authors': 16 of the file's 18 templates (anti-dan argues for refusing; the image unlocker is not
            # a text jailbreak), template + newline + behavior, the jailbroken segment judged
            "exclude_templates": ["anti-dan", "chatgpt-image-unlocker"],
            "separator": "\n",
            "extract_segment": True,
        },
    )
)
register_benchmark(
    BenchmarkSpec(
        name="pap",
        description="Persuasive Adversarial Prompts: persuasive paraphrases of AdvBench requests (Zeng et al. 2024).",
        kind=ATTACK,
        license="CHATS-Lab persuasive_jailbreaker (research use; see the release)",
        files={
            "paraphrases": FileRole(
                "pap_adv_bench_sub_gpt4.jsonl",
                {
                    "behavior": ("bad_q", "behavior", "goal"),
                    "prompt": ("ss_prompt", "prompt", "paraphrase"),
                    "category": ("ss_category", "category"),
                    "attack": ("ss_category", "technique"),
                },
                ("behavior", "prompt"),
                None,
                "JSONL bad_q, ss_category, ss_prompt (adv_bench_sub_gpt4.jsonl of the release)",
            )
        },
        build=_direct("pap", "paraphrases"),
    )
)
register_benchmark(
    BenchmarkSpec(
        name="jbb_artifacts",
        description="JailbreakBench transfer-attack artifacts (DSN, GCG, JBC, PAIR, random search): the mean of the "
        "per-method rates.",
        kind=ATTACK,
        license="MIT (JailbreakBench/artifacts)",
        files={
            "artifacts": FileRole(
                "jbb_artifacts.jsonl",
                {
                    "id": ("index", "id"),
                    "behavior": ("goal", "Goal", "behavior"),
                    "prompt": ("prompt",),
                    "category": ("category", "Category"),
                    "attack": ("method", "attack"),
                },
                ("behavior",),
                None,
                "artifact JSON of JailbreakBench/artifacts ({parameters: {method}, jailbreaks: [{index, goal, "
                "category, prompt}]}), or JSONL goal,prompt,category,method; a null prompt is a failed attack",
            )
        },
        build=_artifacts,
        options={"null_prompt": "failure", "aggregate": "mean_over_attacks"},
    )
)
HARMBENCH_BEHAVIORS = FileRole(
    "harmbench_behaviors_text_all.csv",
    {
        "id": ("BehaviorID", "id"),
        "behavior": ("Behavior", "behavior", "prompt"),
        "context": ("ContextString", "context"),
        "category": ("SemanticCategory", "category"),
    },
    ("behavior",),
    HubSource("walledai/HarmBench", "standard", "train"),
    "HarmBench's behaviors CSV (Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID)",
)
register_benchmark(
    BenchmarkSpec(
        name="harmbench",
        description="HarmBench behaviors attacked by an optimisation attack on this model (PEZ, GCG test cases).",
        kind=ATTACK,
        license="MIT (centerforaisafety/HarmBench)",
        files={
            "behaviors": HARMBENCH_BEHAVIORS,
            "test_cases": FileRole(
                "harmbench_test_cases.json",
                {"id": ("BehaviorID",), "test_case": ("test_case",)},
                ("id", "test_case"),
                None,
                "the test_cases.json of an attack on this model ({BehaviorID: [test case, ...]}), written by "
                "`spp attack` or HarmBench's generate_test_cases",
                keyed=("BehaviorID", "test_case"),
                missing_fix="generate them against this model with `spp attack --method pez --model MODEL "
                "--behaviors BEHAVIORS.csv --output test_cases.json` and pass benchmark_files "
                "harmbench.test_cases=test_cases.json (or put harmbench_test_cases.json in data_dir); to send the "
                "behaviors as direct requests instead, run the benchmark harmbench_direct",
            ),
        },
        build=_harmbench,
    )
)
register_benchmark(
    BenchmarkSpec(
        name="harmbench_direct",
        description="HarmBench behaviors sent as direct requests, context first (HarmBench's DirectRequest).",
        kind=ATTACK,
        license="MIT (centerforaisafety/HarmBench)",
        files={"behaviors": HARMBENCH_BEHAVIORS},
        build=_direct("harmbench_direct"),
    )
)
register_benchmark(
    BenchmarkSpec(
        name="xstest",
        description="XSTest safe prompts: over-refusal, reported as refusal rate (not averaged into ASR).",
        kind=OVER_REFUSAL,
        license="CC-BY-4.0 (paul-rottger/exaggerated-safety)",
        files={
            "prompts": FileRole(
                "xstest_prompts.csv",
                {"id": ("id",), "prompt": ("prompt",), "category": ("type", "category"), "label": ("label",)},
                ("prompt",),
                HubSource("walledai/XSTest", None, "train"),  # its only split (data/train-*.parquet)
                "CSV id,prompt,type,label (rows labelled unsafe are skipped)",
            )
        },
        build=_xstest,
        metric="refusal_rate",
    )
)
register_benchmark(
    BenchmarkSpec(
        name="jb_completions",
        description="Base-model ASR: harmful-completion prefixes, no chat template, temperature 1.0.",
        kind=BASE,
        license="see the release of the file you use",
        files={
            "prompts": FileRole(
                "jb_completions.jsonl",
                {
                    "id": ("id",),
                    "prompt": ("prompt", "prefix"),
                    "behavior": ("behavior", "goal"),
                    "category": ("category",),
                },
                ("prompt",),
                None,
                "JSONL prompt[,behavior,category]: text the base model continues",
            )
        },
        build=_direct("jb_completions", "prompts"),
        chat_template=False,
        temperature=1.0,
    )
)


register_benchmark(
    BenchmarkSpec(
        name="orbench",
        description="OR-Bench hard-1k: seemingly toxic but safe prompts; over-refusal (refusal rate, not in ASR).",
        kind=OVER_REFUSAL,
        license="CC-BY-4.0 (bench-llm/or-bench); Cui et al. 2024",
        files={
            "prompts": FileRole(
                "or-bench-hard-1k.csv",
                {"prompt": ("prompt",), "category": ("category",)},
                ("prompt",),
                HubSource("bench-llm/or-bench", "or-bench-hard-1k", "train"),
                "CSV prompt,category (or-bench-hard-1k.csv of the release)",
            )
        },
        build=_direct("orbench", "prompts"),
        metric="refusal_rate",
    )
)


# benchmarks defined as data (spp/eval/benchmarks/data/*.yaml): ConstitutionEval, AIRiskDilemmas
register_builtin_definitions()
