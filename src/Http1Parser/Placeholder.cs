namespace FastProxy.Http1;
