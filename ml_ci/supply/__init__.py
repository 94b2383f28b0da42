"""The supply chain of a serving image (issue 19): what is in it (`sbom`, CycloneDX), where it came from
(`provenance`, an in-toto statement with an SLSA provenance predicate), who vouches for it (`dsse`,
signatures with a key from a secret), and how these travel with the image in its registry (`referrers`,
OCI 1.1 artifacts that refer to the image digest).

Heavy libraries (cyclonedx, securesystemslib, cryptography, docker) are imported inside functions: the
supply extra is needed only by the commands that make or check these documents.
"""
