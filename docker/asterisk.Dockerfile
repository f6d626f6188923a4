# Asterisk 22 from Debian testing with this project's asterisk/ configuration.
# The configuration is rendered by contactcore itself (the same code the sandbox uses),
# so ports and ARI credentials come from the same settings.
FROM python:3.11-slim AS render
ARG CONTACTCORE_ARI__PASSWORD=contactcore-dev
ENV CONTACTCORE_ARI__PASSWORD=${CONTACTCORE_ARI__PASSWORD}
COPY . /src
RUN pip install --no-cache-dir /src && contactcore sandbox render --out /rendered --source /src/asterisk

FROM debian:forky
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      asterisk asterisk-modules asterisk-core-sounds-en-gsm asterisk-moh-opsound-gsm \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/spool/asterisk/recording \
 && chown -R asterisk:asterisk /var/spool/asterisk /var/lib/asterisk /var/log/asterisk /run/asterisk
COPY --from=render /rendered/ /etc/asterisk/
USER asterisk
CMD ["/usr/sbin/asterisk", "-f", "-U", "asterisk", "-G", "asterisk"]
