namespace FastProxy.Http1;

/// <summary>
/// The outcome of a parse step. <see cref="Incomplete"/> and <see cref="Complete"/> are not errors; every other
/// value is a distinct rejection that the proxy answers with the code from
/// <see cref="Http1StatusExtensions.ToStatusCode"/> (400, 413, 414, 431, 501 or 505) and a closed connection.
/// </summary>
/// <remarks>CONTRACT: the parser engineer adds the rejection values; the engine relies only on Incomplete, Complete,
/// IsError() and ToStatusCode().</remarks>
public enum Http1Status : byte
{
    /// <summary>More bytes are needed; nothing was consumed.</summary>
    Incomplete = 0,
    /// <summary>A whole head (or, for the chunked decoder, the whole body) was parsed.</summary>
    Complete = 1,

    // Rejections follow. Each maps to one HTTP status code.
    /// <summary>Placeholder rejection until the full list lands.</summary>
    BadRequest = 2,
}

public static class Http1StatusExtensions
{
    /// <summary>True for every rejection value.</summary>
    public static bool IsError(this Http1Status status) => status > Http1Status.Complete;

    /// <summary>The HTTP status code the proxy answers a rejection with (400, 414, 431, 501, 505).</summary>
    public static int ToStatusCode(this Http1Status status) => status switch
    {
        _ => 400,
    };
}
