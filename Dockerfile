# graphbot: draws a Docker fleet with Graphviz and posts it to Mattermost.
#   docker build -t graphbot .
#   docker run -d --name graphbot \
#     -v /etc/graphbot:/etc/graphbot:ro -v graphbot-data:/var/lib/graphbot \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -e GRAPHBOT_MATTERMOST__TOKEN_FILE=/etc/graphbot/token graphbot
# The socket is only read: graphbot calls list endpoints and nothing else.
# openssh-client is there for hosts given as ssh://user@host.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY renderers renderers
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz fonts-dejavu-core openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/graphbot graphbot \
    && mkdir -p /var/lib/graphbot /etc/graphbot \
    && chown graphbot /var/lib/graphbot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY settings.toml /etc/graphbot/settings.toml
ENV GRAPHBOT_SETTINGS=/etc/graphbot/settings.toml \
    GRAPHBOT_OUTPUT_DIR=/var/lib/graphbot/output \
    GRAPHBOT_DATA_DIR=/var/lib/graphbot/data \
    PYTHONUNBUFFERED=1
USER graphbot
WORKDIR /var/lib/graphbot
VOLUME /var/lib/graphbot
ENTRYPOINT ["graphbot"]
CMD ["run"]
