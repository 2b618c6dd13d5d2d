# Sourced at the start of a device-machine command: peers from carried wheels (.whl), snnc importable
# (.whl: `pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl spikingjelly==2.0.0 loguru
# hypothesis sortedcontainers attrs`; SpikingJelly 2.0 imports loguru)
# from the checkout (its package-dir mapping rebuilt with links, no install needed).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >/dev/null 2>&1
rm -rf /tmp/pk && mkdir -p /tmp/pk && cp -r snnc /tmp/pk/snnc
for d in ir targets runtime; do ln -s "$PWD/$d" /tmp/pk/snnc/$d; done
export PYTHONPATH=/tmp/pk:/tmp/site:$PYTHONPATH PYTHONUNBUFFERED=1
# (from /tmp: in the checkout's root its snnc/ folder, without the mapped sub-packages, would shadow /tmp/pk;
# run pytest from there too: cd /tmp && python3 -m pytest "$OLDPWD"/tests/runtime ... -m gpu)
(cd /tmp && python3 -c "import torch, triton, snnc; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name(0))")
