# Asterisk 22 from Debian testing with this project's asterisk/ configuration, rendered
# by contactcore itself (the same code the sandbox uses), so that ports and ARI
# credentials come from the same settings. The rendered asterisk.conf names the
# instance's directories (/etc/asterisk-default, /var/lib/asterisk-default, ...).
FROM python:3.11-slim AS render
ARG CONTACTCORE_ARI__PASSWORD=contactcore-dev
ENV CONTACTCORE_ARI__PASSWORD=${CONTACTCORE_ARI__PASSWORD}
COPY . /src
RUN pip install --no-cache-dir /src \
 && contactcore sandbox render --out /rendered --source /src/asterisk

FROM debian:forky
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      asterisk asterisk-modules asterisk-core-sounds-en-gsm asterisk-moh-opsound-gsm \
 && rm -rf /var/lib/apt/lists/*
COPY --from=render /rendered/ /etc/asterisk-default/
# The instance's data directory: links to the shared data, its own sounds/contactcore.
RUN mkdir -p /usr/share/asterisk-default/sounds/contactcore \
 && for e in /usr/share/asterisk/*; do \
      [ "$(basename "$e")" = sounds ] || ln -s "$e" /usr/share/asterisk-default/; done \
 && for e in /usr/share/asterisk/sounds/*; do ln -s "$e" /usr/share/asterisk-default/sounds/; done
RUN for d in /run/asterisk-default /var/log/asterisk-default /var/spool/asterisk-default/recording \
             /var/lib/asterisk-default /var/cache/asterisk-default; do mkdir -p "$d"; done \
 && chown -R asterisk:asterisk /etc/asterisk-default /run/asterisk-default \
      /var/log/asterisk-default /var/spool/asterisk-default /var/lib/asterisk-default \
      /var/cache/asterisk-default
USER asterisk
CMD ["/usr/sbin/asterisk", "-f", "-C", "/etc/asterisk-default/asterisk.conf", "-U", "asterisk", "-G", "asterisk"]
