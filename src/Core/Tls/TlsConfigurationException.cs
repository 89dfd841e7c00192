namespace FastProxy.Tls;

/// <summary>
/// A TLS setting that cannot be applied: an unreadable or mismatched certificate/key, a key no password opens, a
/// cipher list that leaves nothing, an unknown protocol name. Thrown only while a configuration snapshot is built
/// (never per connection), so a bad reload is refused and the running snapshot stays, as <c>nginx -s reload</c> does.
/// </summary>
internal sealed class TlsConfigurationException : Exception
{
    public TlsConfigurationException(string message) : base(message)
    {
    }

    public TlsConfigurationException(string message, Exception inner) : base(message, inner)
    {
    }
}
