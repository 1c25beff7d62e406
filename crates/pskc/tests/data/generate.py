import pskc
p = pskc.PSKC()
k = p.add_key(secret=b'12345678901234567890', algorithm='urn:ietf:params:xml:ns:keyprov:pskc:totp', serial='SN-0001', manufacturer='Acme Tokens', time_interval=30, response_length=6)
p.encryption.setup_preshared_key(key=bytes.fromhex('12345678901234567890123456789012'))
p.write('/tmp/enc.pskc')
p2 = pskc.PSKC()
k = p2.add_key(secret=b'12345678901234567890123456789012', algorithm='urn:ietf:params:xml:ns:keyprov:pskc:totp', serial='SN-0002', time_interval=30, response_length=8, algorithm_suite='HMAC-SHA256')
p2.write('/tmp/plain.pskc')
