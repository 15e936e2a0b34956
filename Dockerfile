FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY intake intake
COPY channels channels
COPY classifiers classifiers
COPY templates templates
RUN pip install --no-cache-dir '.[postgres]' && useradd --system intake
USER intake
WORKDIR /var/lib/intake
CMD ["intake", "serve"]
