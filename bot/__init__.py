"""graphbot: a living picture of a Docker fleet, posted to Mattermost."""
