namespace FastProxy.RateLimiting;

/// <summary>The text of <c>$limit_req_status</c> and <c>$limit_conn_status</c> (ngx_http_limit_req_status and
/// ngx_http_limit_conn_status); empty when the handler did not run for the request (nginx: "not found").</summary>
internal static class LimitStatusText
{
    public static ReadOnlySpan<byte> Of(LimitReqStatus status) => status switch
    {
        LimitReqStatus.Passed => "PASSED"u8,
        LimitReqStatus.Delayed => "DELAYED"u8,
        LimitReqStatus.Rejected => "REJECTED"u8,
        LimitReqStatus.DelayedDryRun => "DELAYED_DRY_RUN"u8,
        LimitReqStatus.RejectedDryRun => "REJECTED_DRY_RUN"u8,
        _ => default,
    };

    public static ReadOnlySpan<byte> Of(LimitConnStatus status) => status switch
    {
        LimitConnStatus.Passed => "PASSED"u8,
        LimitConnStatus.Rejected => "REJECTED"u8,
        LimitConnStatus.RejectedDryRun => "REJECTED_DRY_RUN"u8,
        _ => default,
    };
}
