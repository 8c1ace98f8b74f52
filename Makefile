# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: env demo test lint bench gpu-check clean

env: $(STAMP)

# torch first, from PyTorch's CPU index (PyPI's Linux torch is the multi-GB CUDA build); for the GPU
# path use e.g. `make env TORCH_INDEX=https://download.pytorch.org/whl/cu128`. Without that index
# (offline mirrors), torch comes from the default index as pinned in constraints.txt.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --timeout 10 --retries 1 --index-url $(TORCH_INDEX) \
		"$$(grep '^torch==' constraints.txt)" || echo "torch: $(TORCH_INDEX) not reachable, using the default index"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,convert,tflite,live,web,batch,pull]'
	touch $(STAMP)

demo: env
	$(BIN)/python -m streamer.demo out/demo

test: env
	$(BIN)/python -m pytest -q

# ruff, then mypy on streamer/ and trt_build/ (configured in pyproject.toml)
lint: env
	$(BIN)/ruff check streamer trt_build tests benchmarks setup.py
	$(BIN)/ruff format --check streamer trt_build tests benchmarks setup.py
	$(BIN)/mypy

bench: env
	$(BIN)/python benchmarks/bench_file.py

clean:
	rm -rf $(VENV) out

# On a machine with a CUDA GPU: conformance of the torch backend, then the throughput sweep.
gpu-check: env
	$(BIN)/python benchmarks/gpu_check.py
