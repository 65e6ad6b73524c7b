"""Endpoint addresses: what clients are told, whatever address the gateway listens on."""


def test_endpoint_urls_name_the_public_host(tmp_path):
    import socket

    from bento_services.endpoints import public_url
    from registry.settings import Settings

    assert public_url(3000, Settings(home=tmp_path)) == "http://127.0.0.1:3000"
    assert public_url(3001, Settings(home=tmp_path, serve_host="0.0.0.0")) == f"http://{socket.gethostname()}:3001"
    assert public_url(3002, Settings(home=tmp_path, serve_host="0.0.0.0", serve_public_host="models.example")) == \
        "http://models.example:3002"
