# purpose: make moto's ModifyListener accept the NLB protocols AWS accepts (UDP, TCP_UDP, TLS), for the AWS tests.
#
# moto_server imports this at start-up because test/fakes/aws-moto.ts puts this directory on PYTHONPATH.
# moto 5.x refuses any ModifyListener Protocol other than HTTP, HTTPS or TCP, and applies certificates only
# to HTTPS listeners; AWS changes an NLB listener between TCP, UDP, TCP_UDP and TLS in place. Without this,
# a TCP -> UDP port change could not be tested against moto (see test/aws-moto-quirks.md).
from moto.elbv2.models import ELBv2Backend

_NLB_ONLY = ("UDP", "TCP_UDP", "TLS")
_original = ELBv2Backend.modify_listener


def _modify_listener(self, arn, port=None, protocol=None, ssl_policy=None, certificates=None, actions=None):
    listener = _original(self, arn, port, None if protocol in _NLB_ONLY else protocol, ssl_policy, certificates, actions)
    if protocol in _NLB_ONLY:
        listener.protocol = protocol
    if listener.protocol == "TLS" and certificates:
        listener.certificate = certificates[0]["CertificateArn"]
        listener.certificates = [c["CertificateArn"] for c in certificates]
    return listener


ELBv2Backend.modify_listener = _modify_listener
