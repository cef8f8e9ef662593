# backprop-ninja: the server and its front end on port 8000.
#   docker build -t backprop-ninja . && docker run -p 127.0.0.1:8000:8000 backprop-ninja
# Publish on the host's loopback as above (or use docker compose, which does).
# Inside the container the server binds every interface, so it asks for an
# access token: it prints http://127.0.0.1:8000/?token=... at start (docker
# logs); open that once, a cookie keeps it. On a class server, publish on the
# address students use and name it: -p 8000:8000 -e BPN_ALLOWED_HOSTS=class.example
# (the token still guards it; -e BPN_TOKEN=... keeps one across restarts).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# torch first, exactly the build scripts/setup.sh installs, and its CPU
# wheel: the extra index serves it (2.13.0+cpu); from PyPI alone pip would
# pull a multi-GB CUDA build. pyproject.toml asks only torch>=2.1, so the
# next step keeps this one.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# Then the dependencies, read from pyproject.toml (the base and the `server`
# extra: the image is the web app), in a layer of their own so that code
# edits do not reinstall them
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(*p['dependencies'], *p['optional-dependencies']['server'], sep='\\n')" \
      > requirements.txt \
 && pip install -r requirements.txt \
 && rm requirements.txt

# the package backprop_ninja: the repository's top (__init__.py, check.py) and its parts
COPY README.md __init__.py check.py ./
COPY model ./model
COPY server ./server
COPY frontend ./frontend
COPY notebook ./notebook
# installed as a package (the model, the server, the pages as package data),
# and the sources removed, so what runs is what `pip install .` gives anyone
RUN pip install --no-deps . && rm -rf __init__.py check.py model server frontend notebook build ./*.egg-info

# uploaded word lists (server/sessions/datasets.py): on a volume, so links to them
# outlive the container (user nobody has no home to keep them in)
ENV BPN_DATA_DIR=/data
RUN mkdir /data && chown nobody /data
VOLUME /data

# the image has no browser and must answer from outside the container:
# hence --host 0.0.0.0, and with it the token (server/guards/security.py)
USER nobody
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health')"
CMD ["backprop-ninja", "--host", "0.0.0.0", "--port", "8000", "--no-open"]
